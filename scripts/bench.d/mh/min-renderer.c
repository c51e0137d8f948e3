/* min-renderer.c: a diagnostic renderer for the bench app, not one of the
 * bench's contenders. It speaks the protocol with plain blocking read() and
 * write() and nothing else (no event loop, no Lua, no JSON library), so
 * that running 8 and 64 of them against the host shows how the host itself
 * scales, apart from the renderers' own per-message work (docs/benchmarks.md,
 * "1 / 8 / 64 renderers"). Only the "conc" mode: after "go" it invokes
 * "add" for BENCH_DUR_MS and sends its count as "done".
 *
 *   gcc -O2 -o /tmp/min-renderer scripts/bench.d/mh/min-renderer.c
 *   (a config like app-8.json with "command": ["/tmp/min-renderer"])
 *
 * MIN_WAIT=epoll or MIN_WAIT=poll: before each read, wait in epoll_wait or
 * poll first, as an event loop would (to compare how quickly each way of
 * sleeping is woken; docs/benchmarks.md, "How a renderer waits"). The
 * default is a plain blocking read.
 *
 * Built with -DMIN_LUA, the loop of round trips runs in a Lua state instead,
 * written as the bench's Lua renderer writes it (a clock read before and
 * after each call, the latency stored in a table), the call being a C
 * function that does the same write and blocking read as above: the least
 * per round trip that any renderer driven by a Lua VM does.
 *
 *   gcc -O2 -DMIN_LUA -o /tmp/min-lua-renderer scripts/bench.d/mh/min-renderer.c \
 *     $(pkg-config --cflags --libs lua5.4)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sys/epoll.h>
#ifdef MIN_LUA
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#endif

static int fd;
static int wait_mode, ep;  /* MIN_WAIT: 0 read, 1 epoll_wait, 2 poll */
static char in[65536];
static size_t have;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void put(const char *s, size_t n) {
  while (n) {
    ssize_t k = write(fd, s, n);
    if (k <= 0) exit(1);
    s += k;
    n -= (size_t)k;
  }
}

/* The next line from the host (without its newline); exits when it is gone. */
static const char *next_line(void) {
  static char line[sizeof in];
  for (;;) {
    char *nl = memchr(in, '\n', have);
    if (nl) {
      size_t n = (size_t)(nl - in);
      memcpy(line, in, n);
      line[n] = 0;
      memmove(in, nl + 1, have - n - 1);
      have -= n + 1;
      return line;
    }
    if (have == sizeof in) exit(1);
    if (wait_mode == 1) {
      struct epoll_event ev;
      epoll_wait(ep, &ev, 1, -1);
    } else if (wait_mode == 2) {
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, -1);
    }
    ssize_t k = read(fd, in + have, sizeof in - have);
    if (k <= 0) exit(0);
    have += (size_t)k;
  }
}

/* One invoke of "add" (2, 3) with this id; its result line. */
static const char *round_trip(long id) {
  char buf[128];
  int n = snprintf(buf, sizeof buf, "{\"k\":\"invoke\",\"ch\":\"add\",\"id\":%ld,\"args\":[2,3]}\n", id);
  put(buf, (size_t)n);
  const char *l;
  while (!strstr(l = next_line(), "\"k\":\"result\"")) {
  }
  return l;
}

#ifdef MIN_LUA
static int l_now(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)now_ns());
  return 1;
}

/* call(): one invoke of "add" (2, 3), its result's value as an integer. */
static int l_call(lua_State *L) {
  static long id;
  const char *v = strstr(round_trip(++id), "\"args\":[");
  lua_pushinteger(L, v ? atol(v + 8) : -1);
  return 1;
}
#endif

int main(void) {
  const char *s = getenv("MAINHOST_IPC_FD");
  const char *d = getenv("BENCH_DUR_MS");
  if (!s || !d) return 2;
  fd = atoi(s);
  const char *w = getenv("MIN_WAIT");
  wait_mode = !w ? 0 : !strcmp(w, "epoll") ? 1 : !strcmp(w, "poll") ? 2 : 0;
  if (wait_mode == 1) {
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) return 2;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  char buf[256];
  int n = snprintf(buf, sizeof buf, "{\"k\":\"hello\",\"v\":1,\"pid\":%d}\n", (int)getpid());
  put(buf, (size_t)n);
  static const char ready[] = "{\"k\":\"send\",\"ch\":\"ready\",\"args\":[]}\n";
  put(ready, sizeof ready - 1);
  while (!strstr(next_line(), "\"ch\":\"go\"")) {
  }
  uint64_t t0 = now_ns(), end = t0 + (uint64_t)atol(d) * 1000000u;
  long count = 0;
#ifdef MIN_LUA
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_pushcfunction(L, l_now);
  lua_setglobal(L, "now");
  lua_pushcfunction(L, l_call);
  lua_setglobal(L, "call");
  static const char loop[] =
      "local stop = ...\n"
      "local now, call, lat, n = now, call, {}, 0\n"
      "local t = now()\n"
      "while t < stop do\n"
      "  local t0 = now()\n"
      "  local r = call()\n"
      "  t = now()\n"
      "  if r ~= 5 then error('bad reply') end\n"
      "  n = n + 1\n"
      "  lat[n] = (t - t0) / 1000\n"
      "end\n"
      "return n\n";
  if (luaL_loadstring(L, loop) != LUA_OK) return 2;
  lua_pushinteger(L, (lua_Integer)end);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "min-renderer: %s\n", lua_tostring(L, -1));
    return 2;
  }
  count = (long)lua_tointeger(L, -1);
#else
  for (long id = 1; now_ns() < end; id++, count++) round_trip(id);
#endif
  double secs = (double)(now_ns() - t0) / 1e9;
  n = snprintf(buf, sizeof buf,
               "{\"k\":\"send\",\"ch\":\"done\",\"args\":[\"{\\\"n\\\":%ld,\\\"secs\\\":%.6f}\"]}\n", count, secs);
  put(buf, (size_t)n);
  for (;;) next_line();  /* until the host lets us go */
}
