/* raw.c: the physical-limit baseline for scripts/bench: the same work as the
 * mainhost and Node contenders, done over a bare UNIX socketpair with plain
 * read/write and newline framing, nothing else (no JSON, no event objects).
 * Every result is one line "BENCH {json}" on stdout, which the driver reads.
 *
 *   raw pingpong N DUR_MS WARM_MS block|epoll
 *       N children each do request/reply round trips (a 48-byte request
 *       line, a 36-byte reply line) for DUR_MS after WARM_MS of warm-up,
 *       timing each call; the parent answers with blocking reads (one
 *       child) or an epoll loop (any number). All start on one "go".
 *       BENCH_CHILD_CPU=N pins the children to CPU N.
 *   raw stream SIZE COUNT
 *       a child writes COUNT lines of SIZE payload bytes (batched into 64 KiB
 *       writes when small); the parent counts newlines and acks the last;
 *       the child times first write to ack.
 *   raw startup         fork+exec of a child that sends one line; the parent
 *                       times fork to that line.
 *   raw idle N          N exec'd children that said hello and wait; prints
 *                       READY and sleeps until killed (for resident memory).
 *   raw exec-timed CMD...  prints "T0 <CLOCK_MONOTONIC ns>" and execs CMD:
 *                       the start of a process, timed from the same clock
 *                       luv's uv.hrtime() and Node's hrtime read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

/* Reads until one '\n' has arrived; the line must be the only thing in
 * flight (request/reply), so nothing past it is lost. Returns its length. */
static size_t read_line(int fd, char *buf, size_t cap) {
  size_t have = 0;
  for (;;) {
    ssize_t r = read(fd, buf + have, cap - have);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) exit(0);
    have += (size_t)r;
    if (memchr(buf + have - (size_t)r, '\n', (size_t)r)) return have;
    if (have == cap) {
      fprintf(stderr, "raw: line too long\n");
      exit(1);
    }
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct_us(const uint64_t *v, size_t n, double p) {
  if (n == 0) return 0;
  size_t k = (size_t)(p * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return (double)v[k - 1] / 1000.0;
}

/* ---- pingpong ------------------------------------------------------------- */

static const char REQ[] = "Q{\"k\":\"invoke\",\"ch\":\"add\",\"id\":1,\"args\":[2,3]}\n";  /* 48 B */
static const char REP[] = "{\"k\":\"result\",\"id\":1,\"args\":[5]}---\n";          /* 36 B */

/* BENCH_CHILD_CPU=N: this child runs on CPU N (the driver pins the parent
 * elsewhere), so every round trip crosses CPUs, as in the split variant. */
static void pin_from_env(void) {
  const char *s = getenv("BENCH_CHILD_CPU");
  if (!s || !*s) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(atoi(s), &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

/* RAW_TOUCH_KB=K (a diagnostic, not part of the bench's figures): per
 * round trip the client also walks every cache line of a private K KiB
 * buffer, each line holding the index of the next in a shuffled cycle (one
 * dependent load after another, no prefetching), as a process whose code
 * and data per wake-up span K KiB would. It shows what such a working set
 * costs a process that wakes up after many others ran on its CPU (see "64
 * renderers" in docs/benchmarks.md). */
static uint32_t *touch_buf;  /* word 0 of each touched line is the next */
static size_t touch_lines;
static size_t touch_words = 16;  /* words from one touched line to the next */

static void touch_init(void) {
  const char *s = getenv("RAW_TOUCH_KB");
  touch_lines = s ? (size_t)(atof(s) * 1024 / 64) : 0;
  if (!touch_lines) return;
  /* RAW_TOUCH_STRIDE=B: B bytes from one touched line to the next (64
   * unless set); 4096 touches one line per page, to tell TLB misses from
   * cache misses. */
  const char *st = getenv("RAW_TOUCH_STRIDE");
  if (st && atol(st) >= 64) touch_words = (size_t)atol(st) / 4;
  /* RAW_TOUCH_SHARED=1: one buffer mapped shared by every client (made
   * before the fork), as the code of one executable is: the same physical
   * lines for all. RAW_TOUCH_HUGE=1: the private buffer on one transparent
   * huge page (2 MiB, madvise), so that its walk costs no TLB misses. */
  size_t bytes = touch_lines * touch_words * 4, huge = (size_t)2 << 20;
  if (getenv("RAW_TOUCH_SHARED")) {
    touch_buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (touch_buf == MAP_FAILED) die("mmap");
  } else if (getenv("RAW_TOUCH_HUGE")) {
    if (bytes > huge) die("RAW_TOUCH_HUGE: the walk must fit in 2 MiB");
    char *m = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("mmap");
    char *a = (char *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
    if (madvise(a, huge, MADV_HUGEPAGE) != 0) die("madvise(MADV_HUGEPAGE)");
    memset(a, 0, huge);  /* fault it in whole, as one page */
    touch_buf = (uint32_t *)a;
  } else {
    touch_buf = calloc(touch_lines, touch_words * 4);
  }
  uint32_t *order = malloc(touch_lines * sizeof *order);
  if (!touch_buf || !order) die("malloc");
  for (size_t i = 0; i < touch_lines; i++) order[i] = (uint32_t)i;
  uint64_t x = 88172645463325252ull;  /* xorshift: the same shuffle every run */
  for (size_t i = touch_lines - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t j = x % (i + 1);
    uint32_t t = order[i];
    order[i] = order[j], order[j] = t;
  }
  for (size_t i = 0; i < touch_lines; i++) touch_buf[(size_t)order[i] * touch_words] = order[(i + 1) % touch_lines];
  free(order);
}

static void touch(void) {
  uint32_t at = 0;
  for (size_t i = 0; i < touch_lines; i++) at = touch_buf[(size_t)at * touch_words];
  if (at == 0xFFFFFFFFu) fprintf(stderr, "?");
}

static void pp_client(int fd, int dur_ms, int warm_ms) {
  char buf[4096];
  pin_from_env();
  if (!touch_buf) touch_init();  /* RAW_TOUCH_SHARED made it before the fork */
  read_line(fd, buf, sizeof buf);  /* go */
  size_t cap = 1 << 16, n = 0;
  uint64_t *lat = malloc(cap * sizeof *lat);
  if (!lat) die("malloc");
  uint64_t start = now_ns();
  uint64_t mstart = start + (uint64_t)warm_ms * 1000000u;
  uint64_t end = mstart + (uint64_t)dur_ms * 1000000u;
  uint64_t t = start;
  while (t < end) {
    uint64_t t0 = now_ns();
    write_all(fd, REQ, sizeof REQ - 1);
    read_line(fd, buf, sizeof buf);
    if (touch_lines) touch();
    t = now_ns();
    if (t0 >= mstart) {
      if (n == cap) {
        cap *= 2;
        lat = realloc(lat, cap * sizeof *lat);
        if (!lat) die("realloc");
      }
      lat[n++] = t - t0;
    }
  }
  double secs = (double)(t - mstart) / 1e9;
  qsort(lat, n, sizeof *lat, cmp_u64);
  char res[512];
  int len = snprintf(res, sizeof res,
                     "R{\"n\":%zu,\"secs\":%.6f,\"p50_us\":%.3f,\"p99_us\":%.3f}\n", n, secs,
                     pct_us(lat, n, 0.50), pct_us(lat, n, 0.99));
  write_all(fd, res, (size_t)len);
  free(lat);
}

typedef struct conn {
  int fd;
  size_t have;
  int done;
  char buf[4096];
} conn_t;

/* Answers every complete line in c->buf; returns 1 when the child reported. */
static int serve_lines(conn_t *c) {
  size_t off = 0;
  int done = 0;
  for (;;) {
    char *nl = memchr(c->buf + off, '\n', c->have - off);
    if (!nl) break;
    size_t len = (size_t)(nl - (c->buf + off)) + 1;
    if (c->buf[off] == 'Q') {
      write_all(c->fd, REP, sizeof REP - 1);
    } else if (c->buf[off] == 'R') {
      printf("BENCH %.*s\n", (int)(len - 2), c->buf + off + 1);
      fflush(stdout);
      done = 1;
    }
    off += len;
  }
  memmove(c->buf, c->buf + off, c->have - off);
  c->have -= off;
  return done;
}

static int cmd_pingpong(int n, int dur_ms, int warm_ms, int use_epoll) {
  conn_t *cs = calloc((size_t)n, sizeof *cs);
  if (!cs) die("calloc");
  if (getenv("RAW_TOUCH_SHARED")) touch_init();
  for (int i = 0; i < n; i++) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      close(sv[0]);
      for (int j = 0; j < i; j++) close(cs[j].fd);
      pp_client(sv[1], dur_ms, warm_ms);
      _exit(0);
    }
    close(sv[1]);
    cs[i].fd = sv[0];
  }
  for (int i = 0; i < n; i++) write_all(cs[i].fd, "G\n", 2);
  int left = n;
  if (!use_epoll) {
    while (left > 0) {
      for (int i = 0; i < n; i++) {
        conn_t *c = &cs[i];
        if (c->done) continue;
        ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("read (child gone)");
        c->have += (size_t)r;
        if (serve_lines(c)) {
          c->done = 1;
          left--;
        }
      }
    }
  } else {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < n; i++) {
      fcntl(cs[i].fd, F_SETFL, fcntl(cs[i].fd, F_GETFL) | O_NONBLOCK);
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0) die("epoll_ctl");
    }
    struct epoll_event evs[128];
    while (left > 0) {
      int k = epoll_wait(ep, evs, 128, -1);
      if (k < 0) {
        if (errno == EINTR) continue;
        die("epoll_wait");
      }
      for (int e = 0; e < k; e++) {
        conn_t *c = evs[e].data.ptr;
        for (;;) {
          ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
          if (r < 0 && errno == EINTR) continue;
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (r <= 0) {
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            if (!c->done) die("read (child gone)");
            break;
          }
          c->have += (size_t)r;
          /* Each child has one request in flight, so a reply never finds
           * the socket full. */
          if (serve_lines(c) && !c->done) {
            c->done = 1;
            left--;
          }
          if ((size_t)r < sizeof c->buf) break;
        }
      }
    }
    close(ep);
  }
  for (int i = 0; i < n; i++) close(cs[i].fd);
  while (wait(NULL) > 0) {}
  free(cs);
  return 0;
}

/* ---- stream --------------------------------------------------------------- */

#define BATCH (64 * 1024)

static void stream_writer(int fd, size_t size, long count) {
  size_t frame = size + 1;
  char *buf;
  size_t per, blen;
  if (frame <= BATCH) {
    per = BATCH / frame;
    blen = per * frame;
  } else {
    per = 1;
    blen = frame;
  }
  buf = malloc(blen);
  if (!buf) die("malloc");
  for (size_t i = 0; i < per; i++) {
    memset(buf + i * frame, 'x', size);
    buf[i * frame + size] = '\n';
  }
  uint64_t t0 = now_ns();
  long left = count;
  while (left > 0) {
    size_t k = (size_t)left < per ? (size_t)left : per;
    write_all(fd, buf, k * frame);
    left -= (long)k;
  }
  char ack[64];
  read_line(fd, ack, sizeof ack);
  uint64_t t1 = now_ns();
  double secs = (double)(t1 - t0) / 1e9;
  printf("BENCH {\"n\":%ld,\"size\":%zu,\"secs\":%.6f,\"msg_s\":%.1f,\"mb_s\":%.3f}\n", count, size,
         secs, (double)count / secs, (double)count * (double)size / secs / 1e6);
  fflush(stdout);
  free(buf);
}

static int cmd_stream(size_t size, long count) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(sv[0]);
    stream_writer(sv[1], size, count);
    _exit(0);
  }
  close(sv[1]);
  size_t cap = 256 * 1024;
  char *buf = malloc(cap);
  if (!buf) die("malloc");
  long seen = 0;
  while (seen < count) {
    ssize_t r = read(sv[0], buf, cap);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("read (writer gone)");
    const char *p = buf, *end = buf + r;
    while ((p = memchr(p, '\n', (size_t)(end - p)))) {
      seen++;
      p++;
    }
  }
  write_all(sv[0], "A\n", 2);
  free(buf);
  waitpid(pid, NULL, 0);
  close(sv[0]);
  return 0;
}

/* ---- startup and idle children ----------------------------------------------- */

static pid_t spawn_child(const char *self, const char *mode, int *fd_out) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    if (dup2(sv[1], 3) < 0) _exit(127);  /* dup2 clears CLOEXEC on fd 3 */
    execl(self, self, mode, (char *)NULL);
    _exit(127);
  }
  close(sv[1]);
  *fd_out = sv[0];
  return pid;
}

static int cmd_startup(const char *self) {
  char buf[256];
  uint64_t t0 = now_ns();
  int fd;
  pid_t pid = spawn_child(self, "child-hello", &fd);
  read_line(fd, buf, sizeof buf);
  uint64_t t1 = now_ns();
  printf("FIRST %" PRIu64 "\nBENCH {\"ms\":%.4f}\n", t1, (double)(t1 - t0) / 1e6);
  fflush(stdout);
  close(fd);
  waitpid(pid, NULL, 0);
  return 0;
}

static int cmd_idle(const char *self, int n) {
  char buf[256];
  int *fds = calloc((size_t)n, sizeof *fds);
  if (!fds) die("calloc");
  for (int i = 0; i < n; i++) spawn_child(self, "child-hello", &fds[i]);
  for (int i = 0; i < n; i++) read_line(fds[i], buf, sizeof buf);
  printf("READY %d\n", (int)getpid());
  fflush(stdout);
  for (;;) pause();  /* until the driver kills us */
  return 0;
}

/* A child: one hello on fd 3, then wait for the parent to close it. */
static int cmd_child_hello(void) {
  static const char hello[] = "{\"k\":\"hello\",\"v\":1}\n";
  write_all(3, hello, sizeof hello - 1);
  char buf[256];
  while (read(3, buf, sizeof buf) > 0) {}
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    fprintf(stderr, "usage: raw pingpong N DUR_MS WARM_MS block|epoll | stream SIZE COUNT | "
            "startup | idle N | exec-timed CMD...\n");
    return 2;
  }
  const char *m = argv[1];
  if (!strcmp(m, "pingpong") && argc == 6)
    return cmd_pingpong(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), !strcmp(argv[5], "epoll"));
  if (!strcmp(m, "stream") && argc == 4) return cmd_stream((size_t)atol(argv[2]), atol(argv[3]));
  if (!strcmp(m, "startup")) return cmd_startup("/proc/self/exe");
  if (!strcmp(m, "idle") && argc == 3) return cmd_idle("/proc/self/exe", atoi(argv[2]));
  if (!strcmp(m, "child-hello")) return cmd_child_hello();
  if (!strcmp(m, "exec-timed") && argc >= 3) {
    printf("T0 %" PRIu64 "\n", now_ns());
    fflush(stdout);
    execvp(argv[2], argv + 2);
    die("execvp");
  }
  fprintf(stderr, "raw: bad arguments\n");
  return 2;
}
