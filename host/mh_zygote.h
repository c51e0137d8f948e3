/* mh_zygote.h: the renderer launcher. Lua renderers are forked from one
 * process (`mainhost --zygote`, started once per host) instead of each
 * exec'ing the binary, so that they all share one address-space layout:
 * randomised once per run, the same in every renderer. Why it matters: the
 * CPU's branch predictors are indexed by code address, and with 64
 * renderers each laid out at its own random addresses they no longer fit
 * (docs/benchmarks.md, "1 / 8 / 64 renderers"). The launcher forks, the
 * host keeps the rest (the renderer's pipes, socket, signals, process
 * group); the launcher reports each exit back. MAINHOST_ZYGOTE=0 turns it
 * off: every renderer is exec'd as before. */
#ifndef MH_ZYGOTE_H
#define MH_ZYGOTE_H

#include <uv.h>

/* Called from the loop for each end the launcher reports (a wait status as
 * waitpid gives it); with assumed 1 for a renderer the host SIGKILLed
 * whose end was not reported in time (see mh_zygote_expect_end); and once
 * with pid -1 when the launcher itself is gone: every renderer it started
 * and that was not reported has had the parent-death signal (SIGTERM), and
 * is the host's no more to signal. */
typedef void (*mh_zygote_exit_cb)(int pid, int wstatus, int assumed);

/* Starts the launcher on first use. 0 when it can be used (MAINHOST_ZYGOTE
 * is not 0 and it runs), -1 otherwise: exec the renderer instead. */
int mh_zygote_ready(uv_loop_t *loop, mh_zygote_exit_cb cb);

/* Forks `mainhost --renderer` with argv (argv[0] this binary) and env, in
 * cwd (NULL: the host's), with out_fd, err_fd and chan_fd as its fds 1, 2
 * and 3 and /dev/null as 0, leading its own process group. Returns the
 * pid; or MH_ZYGOTE_EXEC when the request did not reach the launcher (too
 * large, or the launcher is gone: exec this renderer); or -errno when the
 * renderer could not start: the fork or chdir failed, or the launcher
 * took the request and then did not answer (-ETIMEDOUT) or died (-EPIPE),
 * when a child of it may hold chan_fd, so no other process may be given
 * it. A launcher that is slow to take or answer a request (5 s) is
 * retired: it takes no more requests, but still reports the ends of the
 * renderers it started; one that is gone is dropped. Either way
 * mh_zygote_ready says -1 from then on. */
#define MH_ZYGOTE_EXEC 1
int mh_zygote_spawn(char **argv, char **env, const char *cwd, int out_fd, int err_fd, int chan_fd);

/* The host has sent SIGKILL to the renderer pid: unless its end is
 * reported within ms, the exit callback is called for it with assumed 1
 * (the launcher may be stopped, or the process slow to die), so that no
 * quit waits on it for ever. */
void mh_zygote_expect_end(int pid, unsigned ms);

/* Renderers started through it that have not been reported: while there
 * are any, its report channel keeps the loop alive. */
void mh_zygote_track(int delta);

/* Shuts it down once every renderer is gone: its sockets close, it reaps
 * what it still holds and exits, or is SIGKILLed after ms. The host runs
 * the loop until mh_zygote_handles(), its handles still open, is 0. */
void mh_zygote_close(unsigned ms);
int mh_zygote_handles(void);

/* `mainhost --zygote`: the launcher's own main. */
int mh_zygote_main(int argc, char **argv);

#endif
