/* mh_zygote.c: the renderer launcher (see mh_zygote.h), both its sides.
 *
 * The host's side: the launcher is `mainhost --zygote`, started with
 * uv_spawn on first use, with two SOCK_SEQPACKET channels: fd 3 carries a
 * request (argv, env, cwd, and the renderer's stdout, stderr and channel
 * as SCM_RIGHTS) and its answer (the pid, or why not), one at a time and
 * synchronously, as uv_spawn itself is; fd 4 carries the launcher's
 * reports of its children's exits, read from the host's loop.
 *
 * The launcher's side: a poll() loop over its request channel and a
 * signalfd for SIGCHLD. For each request it forks; the child sets itself
 * up as uv_spawn's child would (its own session and process group, the
 * fds, cwd, env, default signal state) and runs mh_renderer_main without
 * an exec, so it keeps the launcher's layout. Whatever the launcher reaps
 * it reports. It never touches libuv or Lua: what it forks is clean. */
#include "mh_zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lstate.h"

int mh_renderer_main(int argc, char **argv);

#define ZY_CTL 3
#define ZY_REP 4
#define ZY_REQ_MAX (192 * 1024) /* within a SEQPACKET's default send buffer */
#define ZY_ANSWER_MS 10000      /* a launcher that does not answer is given up */
#define ZY_TITLE_PAD 1024       /* room in its argv for each child's command line */

struct zy_head {
  uint32_t argc, envc, has_cwd;
};
struct zy_answer {
  int32_t pid, err;
};
struct zy_report {
  int32_t pid, wstatus;
};

/* ---- the host's side ---------------------------------------------------------- */

static struct {
  int state; /* 0 not tried, 1 running, -1 not to be used */
  int ctl, rep;
  uv_process_t proc;
  uv_poll_t poll;
  uv_timer_t lost; /* tells the host, from the loop, that it is gone */
  int handles;
  int live;
  mh_zygote_exit_cb cb;
} Z;

static void z_closed(uv_handle_t *h) {
  (void)h;
  Z.handles--;
}

static void z_tell_lost(uv_timer_t *t) {
  uv_close((uv_handle_t *)t, z_closed);
  Z.cb(-1, 0);
}

/* No more launches through it. tell: it went away on its own, and the
 * host hears of it (pid -1) from the loop, never from inside a spawn. */
static void z_shut(int tell) {
  if (Z.state != 1) return;
  Z.state = -1;
  if (!uv_is_closing((uv_handle_t *)&Z.poll)) uv_close((uv_handle_t *)&Z.poll, z_closed);
  if (!uv_is_closing((uv_handle_t *)&Z.proc)) uv_close((uv_handle_t *)&Z.proc, z_closed);
  close(Z.ctl);
  close(Z.rep);
  Z.ctl = Z.rep = -1;
  if (tell) {
    uv_ref((uv_handle_t *)&Z.lost); /* the host waits for its renderers' ends */
    uv_timer_start(&Z.lost, z_tell_lost, 0, 0);
  } else {
    uv_close((uv_handle_t *)&Z.lost, z_closed);
  }
}

static void z_exited(uv_process_t *p, int64_t status, int sig) {
  (void)p;
  if (Z.state == 1)
    fprintf(stderr, "mainhost: the renderer launcher exited (status %d, signal %d)\n", (int)status, sig);
  z_shut(1);
}

static void z_reports(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  for (;;) {
    struct zy_report rec;
    ssize_t n = recv(Z.rep, &rec, sizeof rec, MSG_DONTWAIT);
    if (n == (ssize_t)sizeof rec) {
      Z.cb(rec.pid, rec.wstatus);
      if (Z.state != 1) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && status == 0) return;
    z_shut(1); /* end of file: it is gone */
    return;
  }
}

int mh_zygote_ready(uv_loop_t *loop, mh_zygote_exit_cb cb) {
  if (Z.state) return Z.state == 1 ? 0 : -1;
  Z.state = -1;
  const char *v = getenv("MAINHOST_ZYGOTE");
  if (v && !strcmp(v, "0")) return -1;
  int c[2], r[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c) != 0) return -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r) != 0) {
    close(c[0]);
    close(c[1]);
    return -1;
  }
  char pad[ZY_TITLE_PAD + 1];
  memset(pad, ' ', ZY_TITLE_PAD);
  pad[ZY_TITLE_PAD] = 0;
  char *args[] = {(char *)mh_lstate_exe(), "--zygote", pad, NULL};
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
  uv_poll_start(&Z.poll, UV_READABLE, z_reports);
  uv_unref((uv_handle_t *)&Z.poll);
  uv_timer_init(loop, &Z.lost);
  Z.handles++;
  uv_unref((uv_handle_t *)&Z.lost);
  Z.state = 1;
  return 0;
}

void mh_zygote_track(int delta) {
  int was = Z.live;
  Z.live += delta;
  if (Z.state != 1) return;
  if (was == 0 && Z.live > 0) uv_ref((uv_handle_t *)&Z.poll);
  if (was > 0 && Z.live == 0) uv_unref((uv_handle_t *)&Z.poll);
}

static size_t put_strs(char *p, char **v, uint32_t n) {
  size_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    size_t l = strlen(v[i]) + 1;
    if (p) memcpy(p + k, v[i], l);
    k += l;
  }
  return k;
}

int mh_zygote_spawn(char **argv, char **env, const char *cwd, int out_fd, int err_fd, int chan_fd) {
  if (Z.state != 1) return -EPIPE;
  struct zy_head h = {0, 0, cwd != NULL};
  while (argv[h.argc]) h.argc++;
  while (env[h.envc]) h.envc++;
  size_t need = sizeof h + put_strs(NULL, argv, h.argc) + put_strs(NULL, env, h.envc) + (cwd ? strlen(cwd) + 1 : 0);
  if (need > ZY_REQ_MAX) return -E2BIG; /* exec'd instead */
  char *buf = malloc(need);
  if (!buf) return -ENOMEM;
  memcpy(buf, &h, sizeof h);
  size_t k = sizeof h;
  k += put_strs(buf + k, argv, h.argc);
  k += put_strs(buf + k, env, h.envc);
  if (cwd) memcpy(buf + k, cwd, strlen(cwd) + 1);

  int fds[3] = {out_fd, err_fd, chan_fd};
  union {
    char b[CMSG_SPACE(sizeof fds)];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct iovec iov = {buf, need};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cm), fds, sizeof fds);
  ssize_t n;
  do n = sendmsg(Z.ctl, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  free(buf);
  if (n != (ssize_t)need) {
    fprintf(stderr, "mainhost: the renderer launcher cannot be reached (%s); renderers are exec'd from now on\n",
            n < 0 ? strerror(errno) : "short write");
    uv_process_kill(&Z.proc, SIGKILL);
    z_shut(1);
    return -EPIPE;
  }
  struct pollfd p = {Z.ctl, POLLIN, 0};
  int pr;
  do pr = poll(&p, 1, ZY_ANSWER_MS);
  while (pr < 0 && errno == EINTR);
  struct zy_answer a;
  if (pr <= 0 || recv(Z.ctl, &a, sizeof a, 0) != (ssize_t)sizeof a) {
    fprintf(stderr, "mainhost: the renderer launcher did not answer; renderers are exec'd from now on\n");
    uv_process_kill(&Z.proc, SIGKILL);
    z_shut(1);
    return pr == 0 ? -ETIMEDOUT : -EPIPE;
  }
  return a.pid > 0 ? a.pid : -(a.err ? a.err : EAGAIN);
}

void mh_zygote_close(void) { z_shut(0); }

int mh_zygote_handles(void) { return Z.handles; }

/* ---- the launcher's side -------------------------------------------------------- */

static char *title_area;
static size_t title_len;
static char **child_argv, **child_env; /* static: still referenced at the child's exit */

/* The child's command line in ps: its argv over the launcher's (the padding
 * argument gives the room), NUL-separated as an exec'd one would be. */
static void set_title(char **argv) {
  if (!title_area || title_len < 2) return;
  memset(title_area, 0, title_len);
  size_t k = 0;
  for (int i = 0; argv[i] && k < title_len - 1; i++) {
    size_t l = strlen(argv[i]);
    if (l > title_len - 1 - k) l = title_len - 1 - k;
    memcpy(title_area + k, argv[i], l);
    k += l + 1;
  }
}

/* The child: set up as uv_spawn's would be, then the renderer. A failure
 * before the renderer runs goes back to the launcher through ep. */
static void child(int ep, int fds[3], char **argv, int argc, char **env, const char *cwd, sigset_t *mask) {
  int err = 0;
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
  exit(mh_renderer_main(argc, argv));
}

static char **split(char **p, char *end, uint32_t n) {
  char **v = calloc(n + 1, sizeof *v);
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
    if (h.argc >= 3 && h.argc < 4096 && h.envc < 65536 && (argv = split(&p, end, h.argc)) &&
        (env = split(&p, end, h.envc))) {
      cwd = h.has_cwd ? p : NULL;
      if (!cwd || memchr(p, 0, (size_t)(end - p))) err = 0;
    }
  }
  pid_t pid = -1;
  if (!err) {
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0) {
      err = errno;
    } else {
      fflush(NULL);
      pid = fork();
      if (pid == 0) {
        close(ep[0]);
        child(ep[1], fds, argv, (int)h.argc, env, cwd, mask);
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
  /* A child that failed its set-up exits 127; its report names a pid the
   * host never heard of, and is ignored. */
  answer(err ? 0 : pid, err);
}

/* Exit reports waiting for room in the report channel. */
static struct zy_report *queue;
static size_t nqueue, capqueue;

static int flush_reports(void) {
  size_t i = 0;
  while (i < nqueue) {
    ssize_t w = send(ZY_REP, &queue[i], sizeof queue[i], MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w < 0) return -1;
    i++;
  }
  if (i) memmove(queue, queue + i, (nqueue - i) * sizeof *queue);
  nqueue -= i;
  return 0;
}

int mh_zygote_main(int argc, char **argv) {
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) return 0; /* the host is already gone */
  signal(SIGPIPE, SIG_IGN);
  /* argv's strings lie one after the other: that is the title's room. */
  title_area = argv[0];
  title_len = strlen(argv[0]) + 1;
  for (int i = 1; i < argc && argv[i] == title_area + title_len; i++) title_len += strlen(argv[i]) + 1;

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
    struct pollfd p[3] = {{ZY_CTL, POLLIN, 0}, {sfd, POLLIN, 0}, {ZY_REP, nqueue ? POLLOUT : 0, 0}};
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
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
      for (;;) {
        if (nqueue == capqueue) {
          size_t cap = capqueue ? capqueue * 2 : 64;
          struct zy_report *q = realloc(queue, cap * sizeof *q);
          if (!q) break; /* the rest are reaped at the next SIGCHLD */
          queue = q;
          capqueue = cap;
        }
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0) break;
        queue[nqueue].pid = pid;
        queue[nqueue].wstatus = st;
        nqueue++;
      }
    }
    if ((p[2].revents & (POLLERR | POLLHUP)) || flush_reports() != 0) break;
  }
  free(buf);
  free(queue);
  return 0;
}
