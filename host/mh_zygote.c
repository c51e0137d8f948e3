/* mh_zygote.c: the renderer launcher (see mh_zygote.h), both its sides.
 *
 * The host's side: the launcher is `mainhost --zygote`, started with
 * uv_spawn on first use, with two SOCK_SEQPACKET channels: fd 3 carries a
 * request (argv, env, cwd, and the renderer's stdout, stderr and channel
 * as SCM_RIGHTS) and its answer (the pid, or why not), one at a time and
 * synchronously, as uv_spawn itself is, and the host's acknowledgements
 * of exits; fd 4 carries the launcher's reports of its children's exits,
 * read from the host's loop.
 *
 * The launcher's side: a poll() loop over its request channel and a
 * signalfd for SIGCHLD. For each request it forks; the child sets itself
 * up as uv_spawn's child would (its own session and process group, the
 * fds, cwd, env, default signal state) and runs mh_renderer_main without
 * an exec, so it keeps the launcher's layout. It reports each child's
 * exit as it sees it (waitid with WNOWAIT) and reaps the zombie only when
 * the host acknowledges, so that a pid the host may still signal is never
 * reused under it. It never touches libuv or Lua: what it forks is clean. */
#include "mh_zygote.h"

#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lstate.h"
#include "mh_wire.h"

int mh_renderer_main(int argc, char **argv);

#define ZY_CTL 3
#define ZY_REP 4
#define ZY_REQ_MAX (64 * 1024) /* a larger request (a huge environment) is exec'd instead */
#define ZY_ANSWER_MS 5000      /* a launcher slower than this to take or answer a request is retired */

enum { ZY_SPAWN = 1, ZY_ACK = 2 };

struct zy_head {
  uint32_t type, argc, envc, has_cwd;
};
struct zy_ack {
  uint32_t type;
  int32_t pid;
};
struct zy_answer {
  int32_t pid, err;
};
struct zy_report {
  int32_t pid, wstatus;
};

/* Arrays of records in an mh_buf_t: count, element, and removals. */
#define NRECS(b, T) ((b).len / sizeof(T))
#define REC(b, T, i) (((T *)(void *)(b).data)[i])

static void drop_front(mh_buf_t *b, size_t bytes) {
  if (!bytes) return;
  memmove(b->data, b->data + bytes, b->len - bytes);
  b->len -= bytes;
}

/* Removes the record at off, putting the last one in its place. */
static void drop_at(mh_buf_t *b, size_t off, size_t size) {
  b->len -= size;
  if (off != b->len) memcpy(b->data + off, b->data + b->len, size);
}

/* ---- the host's side ---------------------------------------------------------- */

enum { Z_OFF = -1, Z_UNTRIED = 0, Z_RUNNING = 1, Z_RETIRED = 2 };

static struct {
  int state; /* Z_*; a retired launcher takes no more requests but still reports */
  int ctl, rep;
  uv_process_t proc;
  uv_poll_t poll;           /* rep: exit reports in, acknowledgements out */
  uv_timer_t lost;          /* tells the host, from the loop, that it is gone */
  uv_timer_t watch;         /* the deadlines below */
  mh_buf_t expect;          /* struct zy_expect: renderers killed, whose end it must report */
  mh_buf_t unread;          /* struct zy_report: read as it went, delivered before that */
  mh_buf_t acks;            /* int32_t: acknowledgements waiting for room in rep */
  int handles;              /* ours still open: the host waits for 0 at shutdown */
  int open, lost_open;      /* poll and watch; lost */
  int live;
  int reaped;               /* libuv reaped it: its pid is no longer its own */
  int closing;              /* the host is shutting down */
  mh_zygote_exit_cb cb;
} Z;

struct zy_expect {
  int pid;
  uint64_t deadline;
};

static void z_closed(uv_handle_t *h) {
  (void)h;
  Z.handles--;
}

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

static void z_io(uv_poll_t *h, int status, int events);

static void z_set_events(void) {
  if (Z.open) uv_poll_start(&Z.poll, UV_READABLE | (Z.acks.len ? UV_WRITABLE : 0), z_io);
}

static void z_flush_acks(void) {
  size_t i = 0;
  while (i < NRECS(Z.acks, int32_t)) {
    struct zy_ack a = {ZY_ACK, REC(Z.acks, int32_t, i)};
    ssize_t w = send(Z.rep, &a, sizeof a, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w != (ssize_t)sizeof a) break; /* no room: when rep is writable */
    i++;
  }
  drop_front(&Z.acks, i * sizeof(int32_t));
}

/* The launcher keeps an ended renderer unreaped (a zombie, holding its pid
 * and process group) until this tells it the host has taken the end. */
static void z_ack(int32_t pid) {
  mh_buf_put(&Z.acks, &pid, sizeof pid);
  z_flush_acks();
}

static void z_forget_expect(int pid) {
  for (size_t i = 0; i < NRECS(Z.expect, struct zy_expect); i++)
    if (REC(Z.expect, struct zy_expect, i).pid == pid) {
      drop_at(&Z.expect, i * sizeof(struct zy_expect), sizeof(struct zy_expect));
      return;
    }
}

static void z_close_handles(int kill_it) {
  if (!Z.open) return;
  Z.open = 0;
  uv_close((uv_handle_t *)&Z.poll, z_closed);
  uv_close((uv_handle_t *)&Z.watch, z_closed);
  mh_buf_free(&Z.expect);
  mh_buf_free(&Z.acks);
  close(Z.ctl);
  close(Z.rep);
  Z.ctl = Z.rep = -1;
  if (!Z.reaped) {
    if (kill_it) uv_process_kill(&Z.proc, SIGKILL); /* whatever state it is in */
    uv_ref((uv_handle_t *)&Z.proc);                  /* the loop runs until libuv reaps it */
  }
}

static void z_tell_lost(uv_timer_t *t) {
  Z.lost_open = 0;
  uv_close((uv_handle_t *)t, z_closed);
  for (size_t i = 0; i < NRECS(Z.unread, struct zy_report); i++)
    Z.cb(REC(Z.unread, struct zy_report, i).pid, REC(Z.unread, struct zy_report, i).wstatus, 0);
  mh_buf_free(&Z.unread);
  Z.cb(-1, 0, 0);
}

/* It is gone (it exited, or its sockets are closed): said on stderr; the
 * host hears of it, the reports it had sent and then pid -1, from the
 * loop, never from inside a spawn. */
static void z_gone(const char *why) {
  if (Z.state != Z_RUNNING && Z.state != Z_RETIRED) return;
  if (Z.state == Z_RUNNING)
    fprintf(stderr, "mainhost: the renderer launcher %s; Lua renderers are exec'd from now on\n", why);
  else
    fprintf(stderr, "mainhost: the renderer launcher %s\n", why);
  Z.state = Z_OFF;
  struct zy_report rec;
  while (recv(Z.rep, &rec, sizeof rec, MSG_DONTWAIT) == (ssize_t)sizeof rec)
    if (mh_buf_put(&Z.unread, &rec, sizeof rec) != 0) break;
  z_close_handles(1);
  uv_ref((uv_handle_t *)&Z.lost); /* the host waits for its renderers' ends */
  uv_timer_start(&Z.lost, z_tell_lost, 0, 0);
}

/* It took too long to take or answer a request: no more requests (later
 * Lua renderers are exec'd), but it still reports the ends of those it
 * started, so they run on. */
static void z_retire(const char *why) {
  if (Z.state != Z_RUNNING) return;
  Z.state = Z_RETIRED;
  fprintf(stderr, "mainhost: the renderer launcher %s; Lua renderers are exec'd from now on\n", why);
}

static void z_exited(uv_process_t *p, int64_t status, int sig) {
  Z.reaped = 1;
  uv_close((uv_handle_t *)p, z_closed);
  if (Z.closing && Z.lost_open) { /* it left on its own: no need for z_bye */
    Z.lost_open = 0;
    uv_close((uv_handle_t *)&Z.lost, z_closed);
  }
  char why[64];
  snprintf(why, sizeof why, "exited (status %d, signal %d)", (int)status, sig);
  z_gone(why);
}

static void z_io(uv_poll_t *h, int status, int events) {
  (void)h;
  if (events & UV_WRITABLE) z_flush_acks();
  for (;;) {
    struct zy_report rec;
    ssize_t n = recv(Z.rep, &rec, sizeof rec, MSG_DONTWAIT);
    if (n == (ssize_t)sizeof rec) {
      z_forget_expect(rec.pid);
      z_ack(rec.pid);
      Z.cb(rec.pid, rec.wstatus, 0);
      if (!Z.open) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && status == 0) {
      z_set_events();
      return;
    }
    z_gone("exited"); /* end of file: it is gone */
    return;
  }
}

int mh_zygote_ready(uv_loop_t *loop, mh_zygote_exit_cb cb) {
  if (Z.state != Z_UNTRIED) return Z.state == Z_RUNNING ? 0 : -1;
  Z.state = Z_OFF;
  const char *v = getenv("MAINHOST_ZYGOTE");
  if (v && !strcmp(v, "0")) return -1;
  int c[2], r[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c) != 0) return -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r) != 0) {
    close(c[0]);
    close(c[1]);
    return -1;
  }
  int sz = 2 * ZY_REQ_MAX;
  setsockopt(c[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  char *args[] = {(char *)mh_lstate_exe(), "--zygote", NULL};
  uv_stdio_container_t stdio[5];
  stdio[0].flags = stdio[1].flags = UV_IGNORE;
  stdio[2].flags = UV_INHERIT_FD; /* for what would go wrong in it */
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = c[1];
  stdio[4].flags = UV_INHERIT_FD;
  stdio[4].data.fd = r[1];
  uv_process_options_t o;
  memset(&o, 0, sizeof o);
  o.file = args[0];
  o.args = args;
  o.exit_cb = z_exited;
  o.stdio = stdio;
  o.stdio_count = 5;
  o.flags = UV_PROCESS_DETACHED; /* a Ctrl-C is the host's to handle */
  int rc = uv_spawn(loop, &Z.proc, &o);
  close(c[1]);
  close(r[1]);
  if (rc != 0) {
    uv_close((uv_handle_t *)&Z.proc, NULL);
    close(c[0]);
    close(r[0]);
    return -1;
  }
  Z.handles++;
  uv_unref((uv_handle_t *)&Z.proc);
  Z.ctl = c[0];
  Z.rep = r[0];
  Z.cb = cb;
  uv_poll_init(loop, &Z.poll, Z.rep);
  Z.handles++;
  uv_poll_start(&Z.poll, UV_READABLE, z_io);
  uv_unref((uv_handle_t *)&Z.poll);
  uv_timer_init(loop, &Z.lost);
  Z.handles++;
  uv_unref((uv_handle_t *)&Z.lost);
  uv_timer_init(loop, &Z.watch);
  Z.handles++;
  uv_unref((uv_handle_t *)&Z.watch);
  Z.open = Z.lost_open = 1;
  Z.state = Z_RUNNING;
  return 0;
}

void mh_zygote_track(int delta) {
  int was = Z.live;
  Z.live += delta;
  if (!Z.open) return;
  if (was == 0 && Z.live > 0) uv_ref((uv_handle_t *)&Z.poll);
  if (was > 0 && Z.live == 0) uv_unref((uv_handle_t *)&Z.poll);
}

/* A deadline passed: the launcher is stopped or stuck, or the process is
 * slow to die (uninterruptible I/O). The host takes the renderer as
 * killed (it sent SIGKILL) and never signals that pid again; a late
 * report is acknowledged and ignored. The launcher and its other
 * renderers carry on. */
static void z_watch(uv_timer_t *t) {
  /* Reports first: this timer may run before the loop reads its sockets,
   * after a handler held the host past a deadline. */
  z_io(&Z.poll, 0, UV_READABLE);
  if (!Z.open) return;
  uint64_t now = now_ms(), next = UINT64_MAX;
  size_t i = 0;
  while (i < NRECS(Z.expect, struct zy_expect)) {
    struct zy_expect x = REC(Z.expect, struct zy_expect, i);
    if (x.deadline > now) {
      if (x.deadline < next) next = x.deadline;
      i++;
      continue;
    }
    drop_at(&Z.expect, i * sizeof x, sizeof x);
    Z.cb(x.pid, SIGKILL, 1);
    if (!Z.open) return;
  }
  if (Z.expect.len) uv_timer_start(t, z_watch, next - now, 0);
}

void mh_zygote_expect_end(int pid, unsigned ms) {
  if (!Z.open) return;
  for (size_t i = 0; i < NRECS(Z.expect, struct zy_expect); i++)
    if (REC(Z.expect, struct zy_expect, i).pid == pid) return;
  struct zy_expect x = {pid, now_ms() + ms}; /* not the loop's time: it may be old */
  if (mh_buf_put(&Z.expect, &x, sizeof x) != 0) return;
  if (!uv_is_active((uv_handle_t *)&Z.watch)) uv_timer_start(&Z.watch, z_watch, ms, 0);
}

/* Puts each string of v with its NUL: how many, or -1 out of memory. */
static long put_strv(mh_buf_t *b, char **v) {
  long n = 0;
  for (; v[n]; n++)
    if (mh_buf_put(b, v[n], strlen(v[n]) + 1) != 0) return -1;
  return n;
}

/* poll() for one descriptor, EINTR retried: > 0 ready, 0 timed out. */
static int wait_fd(int fd, short events, int ms) {
  struct pollfd p = {fd, events, 0};
  int pr;
  do pr = poll(&p, 1, ms);
  while (pr < 0 && errno == EINTR);
  return pr;
}

int mh_zygote_spawn(char **argv, char **env, const char *cwd, int out_fd, int err_fd, int chan_fd) {
  if (Z.state != Z_RUNNING) return MH_ZYGOTE_EXEC;
  z_flush_acks();
  struct zy_head h = {ZY_SPAWN, 0, 0, cwd != NULL};
  mh_buf_t req = {0};
  long na, ne;
  if (mh_buf_put(&req, &h, sizeof h) != 0 || (na = put_strv(&req, argv)) < 0 || (ne = put_strv(&req, env)) < 0 ||
      (cwd && mh_buf_put(&req, cwd, strlen(cwd) + 1) != 0) || req.len > ZY_REQ_MAX) {
    mh_buf_free(&req); /* out of memory, or too large for one packet */
    return MH_ZYGOTE_EXEC;
  }
  h.argc = (uint32_t)na;
  h.envc = (uint32_t)ne;
  memcpy(req.data, &h, sizeof h);

  int fds[3] = {out_fd, err_fd, chan_fd};
  union {
    char b[CMSG_SPACE(sizeof fds)];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {req.data, req.len};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cm), fds, sizeof fds);
  ssize_t n;
  int e = 0, tries = 0;
  for (;;) {
    n = sendmsg(Z.ctl, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    e = errno;
    if (n < 0 && e == EINTR) continue;
    if (n < 0 && e == EAGAIN && tries++ == 0 && wait_fd(Z.ctl, POLLOUT, ZY_ANSWER_MS) > 0) continue;
    break;
  }
  size_t need = req.len;
  mh_buf_free(&req);
  if (n < 0 && (e == EMSGSIZE || e == ENOBUFS || e == ENOMEM)) return MH_ZYGOTE_EXEC; /* this one only */
  if (n < 0 && e == EAGAIN) {
    z_retire("did not take a request");
    return MH_ZYGOTE_EXEC;
  }
  if (n != (ssize_t)need) {
    /* It never got the request: this renderer can be exec'd. */
    char why[128];
    snprintf(why, sizeof why, "cannot be reached (%s)", n < 0 ? strerror(e) : "short write");
    z_gone(why);
    return MH_ZYGOTE_EXEC;
  }
  /* From here it may have forked a child holding chan_fd: no exec'd
   * second renderer on that socket, whatever happens. */
  int pr = wait_fd(Z.ctl, POLLIN, ZY_ANSWER_MS);
  struct zy_answer a;
  if (pr == 0) {
    z_retire("did not answer a request");
    return -ETIMEDOUT;
  }
  if (pr < 0 || recv(Z.ctl, &a, sizeof a, 0) != (ssize_t)sizeof a) {
    z_gone("exited");
    return -EPIPE;
  }
  return a.pid > 0 ? a.pid : -(a.err ? a.err : EAGAIN);
}

/* It did not leave when its sockets closed (it is stopped, say). */
static void z_bye(uv_timer_t *t) {
  Z.lost_open = 0;
  uv_close((uv_handle_t *)t, z_closed);
  if (!Z.reaped) uv_process_kill(&Z.proc, SIGKILL);
}

/* At shutdown, when every renderer is gone: its sockets close, and it
 * reaps what it still holds and exits; SIGKILL after ms if it does not. */
void mh_zygote_close(unsigned ms) {
  if (Z.state == Z_UNTRIED || Z.closing) return;
  Z.state = Z_OFF;
  Z.closing = 1;
  z_close_handles(0);
  mh_buf_free(&Z.unread);
  if (!Z.lost_open) return;
  uv_timer_stop(&Z.lost);
  if (Z.reaped) {
    Z.lost_open = 0;
    uv_close((uv_handle_t *)&Z.lost, z_closed);
    return;
  }
  uv_ref((uv_handle_t *)&Z.lost);
  uv_timer_start(&Z.lost, z_bye, ms, 0);
}

int mh_zygote_handles(void) { return Z.handles; }

/* ---- the launcher's side -------------------------------------------------------- */

static char *title_area;
static size_t title_len;
static char **child_argv, **child_env; /* static: still referenced at the child's exit */

/* The child's command line in ps: its argv written over the launcher's
 * argv and environment strings (the child has its own copy of them, and
 * environ points elsewhere by then), as one string with spaces, the way
 * setproctitle() does it: the kernel then reads it up to its NUL. */
static void set_title(char **argv) {
  if (!title_area || title_len < 2) return;
  size_t k = 0;
  for (int i = 0; argv[i] && k < title_len - 1; i++) {
    if (i) title_area[k++] = ' ';
    size_t l = strlen(argv[i]);
    if (l > title_len - 1 - k) l = title_len - 1 - k;
    memcpy(title_area + k, argv[i], l);
    k += l;
  }
  memset(title_area + k, 0, title_len - k);
}

/* The child: set up as uv_spawn's would be, then the renderer. A failure
 * before the renderer runs goes back to the launcher through ep. */
static void child(pid_t launcher, int ep, int fds[3], char **argv, int argc, char **env, const char *cwd,
                  sigset_t *mask) {
  int err = 0;
  /* Tied to the launcher, which is tied to the host; if it is already
   * gone, nobody would supervise this renderer. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != launcher) _exit(127);
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, mask, NULL);
  setsid();
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul < 0 || dup2(nul, 0) < 0 || dup2(fds[0], 1) < 0 || dup2(fds[1], 2) < 0 || dup2(fds[2], 3) < 0)
    err = errno;
  else if (cwd && chdir(cwd) != 0)
    err = errno;
  if (err) {
    ssize_t w = write(ep, &err, sizeof err);
    (void)w;
    _exit(127);
  }
  if (close_range(4, ~0U, 0) != 0)
    for (int fd = 4; fd < 1024; fd++) close(fd);
  child_argv = argv;
  child_env = env;
  environ = env;
  set_title(argv);
  /* The children share the launcher's layout, and so the addresses Lua
   * takes its string-hash seed from: move this one's stack by a random
   * amount (the renderer seeds math.random itself, from getrandom). */
  uint16_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (uint16_t)getpid();
  volatile char *shift = alloca(16 + 16 * (size_t)(r & 0xfff)); /* up to 64 KiB */
  shift[0] = 0;
  /* glibc's name for error(3) and syslog pointed into the title's room. */
  program_invocation_name = argv[0];
  const char *slash = strrchr(argv[0], '/');
  program_invocation_short_name = slash ? (char *)slash + 1 : argv[0];
  exit(mh_renderer_main(argc, argv));
}

static char **split(char **p, char *end, uint32_t n) {
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    char *z = *p < end ? memchr(*p, 0, (size_t)(end - *p)) : NULL;
    if (!z) {
      free(v);
      return NULL;
    }
    v[i] = *p;
    *p = z + 1;
  }
  return v;
}

static void answer(int32_t pid, int32_t err) {
  struct zy_answer a = {pid, err};
  ssize_t w = send(ZY_CTL, &a, sizeof a, MSG_NOSIGNAL);
  (void)w;
}

/* The renderers it started and has not yet been told to reap. */
struct kid {
  pid_t pid;
  int reported;
};
static mh_buf_t kids;  /* struct kid */
static mh_buf_t queue; /* struct zy_report: waiting for room in the report channel */

static void serve(char *buf, ssize_t n, struct msghdr *m, sigset_t *mask) {
  int fds[3] = {-1, -1, -1}, nfds = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR(m, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      if (nfds < 3) fds[nfds++] = fd;
      else close(fd);
    }
  }
  struct zy_head h;
  char **argv = NULL, **env = NULL;
  char *p = buf + sizeof h, *end = buf + n, *cwd = NULL;
  int err = EINVAL;
  if (nfds == 3 && n >= (ssize_t)sizeof h && !(m->msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    memcpy(&h, buf, sizeof h);
    /* Every string takes at least its NUL: the counts are bounded by n. */
    if (h.type == ZY_SPAWN && h.argc >= 3 && h.argc <= (size_t)n && h.envc <= (size_t)n && (argv = split(&p, end, h.argc)) &&
        (env = split(&p, end, h.envc))) {
      cwd = h.has_cwd ? p : NULL;
      if (!cwd || memchr(p, 0, (size_t)(end - p))) err = 0;
    }
  }
  pid_t pid = -1;
  if (!err && mh_buf_reserve(&kids, sizeof(struct kid)) != 0) err = ENOMEM; /* room before the fork */
  if (!err) {
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) {
      err = errno;
    } else {
      pid_t self = getpid();
      fflush(NULL);
      pid = fork();
      if (pid == 0) {
        close(ep[0]);
        child(self, ep[1], fds, argv, (int)h.argc, env, cwd, mask);
      }
      if (pid < 0) err = errno;
      close(ep[1]);
      if (pid > 0) {
        ssize_t r;
        do r = read(ep[0], &err, sizeof err);
        while (r < 0 && errno == EINTR);
        if (r != (ssize_t)sizeof err) err = 0; /* closed: it is the renderer now */
      }
      close(ep[0]);
    }
  }
  for (int i = 0; i < nfds; i++) close(fds[i]);
  free(argv);
  free(env);
  if (pid > 0 && err) {
    waitpid(pid, NULL, 0); /* its set-up failed, it has exited: never reported */
  } else if (pid > 0) {
    struct kid k = {pid, 0};
    mh_buf_put(&kids, &k, sizeof k); /* reserved above */
  }
  answer(err ? 0 : pid, err);
}

/* The host has taken this exit: the zombie can go. */
static void reap(pid_t pid) {
  for (size_t i = 0; i < NRECS(kids, struct kid); i++) {
    if (REC(kids, struct kid, i).pid != pid || !REC(kids, struct kid, i).reported) continue;
    waitpid(pid, NULL, WNOHANG);
    drop_at(&kids, i * sizeof(struct kid), sizeof(struct kid));
    return;
  }
}

/* Finds the children that have exited and queues their reports, leaving
 * each a zombie (WNOWAIT): its pid and process group stay its own until
 * the host acknowledges, so the host never signals a pid reused since. */
static void collect(void) {
  for (size_t i = 0; i < NRECS(kids, struct kid); i++) {
    struct kid *k = &REC(kids, struct kid, i);
    if (k->reported) continue;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)k->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid != k->pid) continue;
    int st = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8
                                      : (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
    struct zy_report rec = {k->pid, st};
    if (mh_buf_put(&queue, &rec, sizeof rec) != 0) return; /* the rest at the next SIGCHLD */
    k->reported = 1;
  }
}

static int flush_reports(void) {
  size_t i = 0;
  while (i < NRECS(queue, struct zy_report)) {
    ssize_t w = send(ZY_REP, &REC(queue, struct zy_report, i), sizeof(struct zy_report), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w < 0) return -1;
    i++;
  }
  drop_front(&queue, i * sizeof(struct zy_report));
  return 0;
}

int mh_zygote_main(int argc, char **argv) {
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 0; /* the host is already gone */
  /* Anything the host had open without close-on-exec when it started us
   * (a file the main script opened, say) is not ours to keep. */
  if (close_range(ZY_REP + 1, ~0U, 0) != 0)
    for (int fd = ZY_REP + 1; fd < 1024; fd++) close(fd);
  signal(SIGPIPE, SIG_IGN);
  /* argv's and then environ's strings lie one after the other: that is
   * the room for each child's command line. */
  title_area = argv[0];
  char *end = argv[0];
  for (int i = 0; i < argc && argv[i] == end; i++) end += strlen(argv[i]) + 1;
  for (int i = 0; environ[i] && environ[i] == end; i++) end += strlen(environ[i]) + 1;
  title_len = (size_t)(end - title_area);

  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  char *buf = malloc(ZY_REQ_MAX);
  if (sfd < 0 || !buf) {
    perror("mainhost --zygote");
    return 1;
  }
  for (;;) {
    struct pollfd p[3] = {{ZY_CTL, POLLIN, 0}, {sfd, POLLIN, 0}, {ZY_REP, POLLIN | (queue.len ? POLLOUT : 0), 0}};
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) {
      union {
        char b[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
      } u;
      struct iovec iov = {buf, ZY_REQ_MAX};
      struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
      ssize_t n = recvmsg(ZY_CTL, &m, MSG_CMSG_CLOEXEC);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break; /* the host closed it */
      if (n > 0) serve(buf, n, &m, &old);
    }
    if (p[2].revents & (POLLIN | POLLHUP)) {
      /* The host's acknowledgements, on the report channel's way back. */
      struct zy_ack a;
      ssize_t n;
      while ((n = recv(ZY_REP, &a, sizeof a, MSG_DONTWAIT)) == (ssize_t)sizeof a)
        if (a.type == ZY_ACK) reap(a.pid);
      if (n == 0) break; /* the host is gone */
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
      collect();
    }
    if ((p[2].revents & POLLERR) || flush_reports() != 0) break;
  }
  /* The host has acknowledged every end it was sent, if not yet read. */
  for (size_t i = 0; i < NRECS(kids, struct kid); i++)
    if (REC(kids, struct kid, i).reported) waitpid(REC(kids, struct kid, i).pid, NULL, WNOHANG);
  free(buf);
  mh_buf_free(&queue);
  mh_buf_free(&kids);
  return 0;
}
