/* test_chan.c: the channel (host/mh_chan.c) on socketpairs and a loop of
 * its own, played from the other ends: how much one loop turn takes from a
 * peer that floods, and that the other channels are served in that turn;
 * when a wait spins before it blocks, and how it backs off. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mh_chan.h"
#include "mh_test.h"

/* The channel's own limit (mh_chan.c, and docs/security.md): no further
 * read in a turn once this many lines were handled. */
#define LINES_PER_WAKE 16384

typedef struct {
  unsigned lines;
  int bad;     /* a line that was not what the peer wrote */
  int ended;
} count_t;

static void on_line(mh_chan_t *c, const char *line, size_t n) {
  count_t *k = c->data;
  k->lines++;
  if (n != 1 || line[0] != '7') k->bad++;
}

static void on_end(mh_chan_t *c, int status) {
  (void)status;
  count_t *k = c->data;
  k->ended++;
}

/* Opens a channel on one end of a new socketpair; the other end, in
 * non-blocking mode, is the peer's. */
static int open_pair(mh_chan_group_t *g, mh_chan_t *c, count_t *k) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
  memset(c, 0, sizeof *c);
  c->data = k;
  CHECK_INT(mh_chan_open(c, g, sv[0], 1 << 20, on_line, on_end), 0);
  return sv[1];
}

/* Writes "7\n" lines until the socket takes no more; the number written. */
static unsigned fill(int fd) {
  static char chunk[64 * 1024];
  for (size_t i = 0; i < sizeof chunk; i += 2) chunk[i] = '7', chunk[i + 1] = '\n';
  size_t total = 0;
  for (;;) {
    ssize_t n = write(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += (size_t)n;
    if (n % 2) {  /* half a line: end it, blocking if need be */
      int fl = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      if (write(fd, "\n", 1) == 1) total++;
      fcntl(fd, F_SETFL, fl);
      break;
    }
  }
  return (unsigned)(total / 2);
}

static void test_flood_turn(void) {
  uv_loop_t loop;
  mh_chan_group_t g;
  mh_chan_t a, b;
  count_t ka = {0}, kb = {0};
  CHECK_INT(uv_loop_init(&loop), 0);
  CHECK_INT(mh_chan_group_init(&g, &loop), 0);
  int pa = open_pair(&g, &a, &ka);
  int pb = open_pair(&g, &b, &kb);

  /* A flood of tiny lines that the socket holds all at once (far more than
   * a turn may take, and than 16 reads of the first buffer would hold),
   * then one line from the other peer. */
  unsigned flood = fill(pa);
  CHECK(flood > 3 * LINES_PER_WAKE);
  CHECK_INT(write(pb, "7\n", 2), 2);

  /* One turn: the other channel's line is handled, and the flood only up
   * to the limit and what the read that reached it held (a read of tiny
   * lines holds less than the limit). */
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(kb.lines, 1);
  CHECK(ka.lines >= LINES_PER_WAKE);
  CHECK(ka.lines < 2 * LINES_PER_WAKE);

  /* The rest comes in the turns that follow, every line once. */
  for (int turns = 0; ka.lines < flood && turns < 1000; turns++) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(ka.lines, flood);
  CHECK_INT(ka.bad + kb.bad, 0);
  CHECK_INT(ka.ended + kb.ended, 0);

  /* The peers leave: both streams end; then everything closes. */
  close(pa);
  close(pb);
  for (int turns = 0; (ka.ended == 0 || kb.ended == 0) && turns < 100; turns++) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK_INT(ka.ended, 1);
  CHECK_INT(kb.ended, 1);
  mh_chan_close(&a, NULL);
  mh_chan_close(&b, NULL);
  mh_chan_group_close(&g);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
}

/* ---- spinning before a wait (mh_chan_set_spin) ---------------------------- */

static int spin_peer;
static pid_t waiter_tid;

/* Whether the waiting thread sleeps (in its blocking recv: a spin never
 * sleeps, it yields). */
static int waiter_sleeps(void) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)waiter_tid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] == 'S';
}

/* Answers once the waiter has given up spinning and sleeps. */
static void *answer_when_asleep(void *arg) {
  (void)arg;
  while (!waiter_sleeps()) sched_yield();
  if (write(spin_peer, "7\n", 2) != 2) abort();
  return NULL;
}

static int any_line(void *ud, const char *l, size_t n) { (void)ud, (void)l, (void)n; return 1; }
static void got_line(void *ud, const char *l, size_t n) { (void)l, (void)n; ++*(int *)ud; }

/* One request written, then a wait for its answer, which comes only after
 * the wait went to sleep (or, answered_first, before the wait). */
static void request_and_wait(mh_chan_t *c, int write_first, int answered_first) {
  if (write_first) {
    mh_buf_t *b = mh_chan_out(c);
    mh_buf_put(b, "r\n", 2);
    mh_chan_flush(c);
    char drain[16];
    CHECK_INT(read(spin_peer, drain, sizeof drain), 2);
  }
  pthread_t t;
  if (answered_first) CHECK_INT(write(spin_peer, "7\n", 2), 2);
  else pthread_create(&t, NULL, answer_when_asleep, NULL);
  int got = 0;
  CHECK_INT(mh_chan_wait(c, any_line, got_line, &got), 0);
  CHECK_INT(got, 1);
  if (!answered_first) pthread_join(t, NULL);
}

static void test_spin(void) {
  uv_loop_t loop;
  mh_chan_group_t g;
  mh_chan_t c;
  count_t k = {0};
  CHECK_INT(uv_loop_init(&loop), 0);
  CHECK_INT(mh_chan_group_init(&g, &loop), 0);
  spin_peer = open_pair(&g, &c, &k);
  fcntl(spin_peer, F_SETFL, fcntl(spin_peer, F_GETFL) & ~O_NONBLOCK);
  CHECK_INT(mh_chan_set_blocking(&c), 0);
  waiter_tid = gettid();

  /* Off (the channel's default): a wait after a write blocks at once. */
  request_and_wait(&c, 1, 0);
  CHECK_INT(g.spins, 0);

  /* A window of 1 µs: every spin ends with nothing, and each one makes
   * the next 1, 2, 4 ... waits after a write block at once. */
  mh_chan_set_spin(&c, 1);
  unsigned long expect[] = {1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4};
  for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
    request_and_wait(&c, 1, 0);
    CHECK_INT(g.spins, expect[i]);
  }
  CHECK_INT(g.spin_hits, 0);
  CHECK_INT(c.spin_pause, 8);

  /* A wait that does not follow a write never spins, nor counts against
   * the pause; an answer already there is taken as a blocking read would,
   * without a spin. */
  mh_chan_set_spin(&c, 1);
  request_and_wait(&c, 0, 0);
  request_and_wait(&c, 1, 1);
  CHECK_INT(g.spins, 4);
  CHECK_INT(c.spin_skip, 0);
  CHECK_INT(c.spin_pause, 0);

  /* The pause stops at MH_CHAN_SPIN_PAUSE_MAX. */
  c.spin_pause = MH_CHAN_SPIN_PAUSE_MAX;
  request_and_wait(&c, 1, 0);
  CHECK_INT(g.spins, 5);
  CHECK_INT(c.spin_skip, MH_CHAN_SPIN_PAUSE_MAX);

  close(spin_peer);
  mh_chan_close(&c, NULL);
  mh_chan_group_close(&g);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
}

/* MAINHOST_SPIN_US: 0 to 1000 microseconds; anything else is the default. */
static void test_spin_env(void) {
  const char *cases[][2] = {{NULL, "50"}, {"", "50"}, {"0", "0"}, {"7", "7"}, {"1000", "1000"},
                            {"1001", "50"}, {"-1", "50"}, {"12x", "50"}, {"99999999999999999999", "50"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (cases[i][0]) setenv("MAINHOST_SPIN_US", cases[i][0], 1);
    else unsetenv("MAINHOST_SPIN_US");
    CHECK_INT(mh_chan_env_spin_us(), atol(cases[i][1]));
  }
  unsetenv("MAINHOST_SPIN_US");
}

int main(void) {
  test_flood_turn();
  test_spin();
  test_spin_env();
  return TEST_DONE();
}
