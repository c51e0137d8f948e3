/* test_chan.c: the channel (host/mh_chan.c) on socketpairs and a loop of
 * its own, played from the other ends: how much one loop turn takes from a
 * peer that floods, and that the other channels are served in that turn. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

int main(void) {
  test_flood_turn();
  return TEST_DONE();
}
