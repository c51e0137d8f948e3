/* mh_host.h: the main process: renderer processes (spawn, socket, output
 * prefixing, exit, restart), the run of an app, and the one shutdown order.
 * The Lua side of each renderer lives in lipcmain.c. */
#ifndef MH_HOST_H
#define MH_HOST_H

#include <lua.h>
#include <uv.h>

#include "mh_chan.h"
#include "mh_config.h"
#include "mh_emitter.h"
#include "mh_invoke.h"

typedef struct mh_outlines {
  uv_pipe_t pipe;
  mh_buf_t partial;   /* a line still waiting for its '\n' */
  int is_err;         /* forward to stderr instead of stdout */
} mh_outlines_t;

/* What a renderer is started from; shared by the renderer and the ones that
 * restart it. Owns a deep copy of the conf. */
typedef struct mh_spec {
  mh_renderer_conf_t conf;
  int refs;            /* live renderers started from it + a pending restart */
  int restarts;        /* restarts done so far */
  int restart_pending;
  uv_timer_t timer;    /* the backoff before the next start */
} mh_spec_t;

/* The reasons Electron gives in render-process-gone. */
typedef enum mh_gone_reason {
  MH_GONE_CLEAN_EXIT,
  MH_GONE_ABNORMAL_EXIT,
  MH_GONE_KILLED,
  MH_GONE_CRASHED,
  MH_GONE_LAUNCH_FAILED
} mh_gone_reason_t;

/* One renderer process. Owned by the host's table; freed when its handles
 * (process, socket, output pipes, timer) are all closed. */
typedef struct mh_renderer {
  int id;             /* webContents id: 1, 2, ... never reused */
  char *name;
  int pid;
  mh_spec_t *spec;    /* a reference */
  uv_process_t proc;   /* unused when via_zygote */
  int via_zygote;     /* forked by the launcher, which reports its exit */
  mh_chan_t chan;
  mh_outlines_t out, err;
  uv_timer_t timer;   /* close grace periods; the launch-failed report */
  int kill_stage;     /* 0: next is SIGTERM, 1: next is SIGKILL */
  int open_handles;   /* closes still to come before the memory can go */
  int spawned, exited, chan_ended, gone_reported, closed_by_us, said_anything;
  int half_closed;    /* sent end-of-file while running: its channel closes
                         once its requests are answered (mh_host_answered) */
  int timer_hangs_up; /* timer: the bound on that close's last writes */
  int64_t exit_status;
  int term_signal;
  char *launch_error; /* why it never started, or NULL */
  mh_pending_t pending;   /* invoke / sendSync ids awaiting their reply */
  size_t pending_sync;    /* how many of them are sendSync */
  int queue_full;         /* messages to it are being dropped (not reading) */
  uint64_t refuse_window;  /* refusal log lines: when the current second began */
  unsigned refuse_logged, refuse_unlogged;  /* in it: logged, and counted only */
  mh_emitter_t *ipc;      /* webContents.ipc */
  int wc_ref;             /* Lua webContents table (lipcmain.c) */
  int counts_ref;         /* its emitter's listener counts (per-message checks) */
  int evmt_ref[3];        /* frame 1's event metatables: send, sendSync, invoke (lipcmain.c) */
  int loaded;             /* said hello (did-finish-load) */
} mh_renderer_t;

typedef struct mh_host {
  uv_loop_t *loop;
  lua_State *L;
  mh_config_t *cfg;
  mh_chan_group_t chans;
  mh_renderer_t **byid;   /* index id-1; NULL once a renderer is gone */
  mh_renderer_t **mem;    /* index id-1; NULL once its memory is freed */
  size_t nids, capids;
  int live;               /* renderers not yet gone */
  int restarts_pending;
  int ever_spawned;
  mh_buf_t scratch;       /* the decoder's string scratch */
  uv_signal_t sigint, sigterm;
  uv_timer_t gc_timer;    /* collects dropped requests, see mh_host_watch_pending */
  uv_timer_t half_timer;  /* closes half-closed renderers that have their answers */
  unsigned gc_delay_ms;
  int quitting;           /* renderers are being closed for a quit */
  int exiting;            /* app.exit: no more events, just go */
  int exit_code, stopped, signals;
} mh_host_t;

extern mh_host_t mh_host;

/* Runs an app (config already loaded): Lua state, main script, renderers,
 * loop, shutdown. Returns the process exit code. */
int mh_host_main(mh_config_t *cfg);

/* Starts a renderer from conf (copied). Always returns one: a renderer
 * that cannot start reports launch-failed from the loop. NULL only when out
 * of memory. */
mh_renderer_t *mh_host_spawn(const mh_renderer_conf_t *conf);
mh_renderer_t *mh_host_renderer(int id);
/* The last request of a half-closed renderer was answered: its channel is
 * closed once the answer is queued (from the loop's next turn). */
void mh_host_answered(mh_renderer_t *r);

/* webContents.close(): the socket closes (the renderer exits on its own),
 * then SIGTERM, then SIGKILL; no restart follows. */
void mh_host_close_renderer(mh_renderer_t *r);
/* kill(signal) to the renderer's process group; no restart follows when
 * by_user is set and the policy is on-failure... see docs/api.md. */
int mh_host_kill_renderer(mh_renderer_t *r, int sig);

/* A request is still open after its listeners ran: if its event or
 * coroutine was dropped, only a collection notices. Collects after a
 * second (then 2, 4 ... 30 s while requests stay open), so a renderer
 * blocked on a reply nobody can send gets "reply was never sent" soon
 * instead of whenever the GC happens to run. */
void mh_host_watch_pending(void);

/* app.quit(): before-quit (may be cancelled), renderers close, will-quit
 * (may be cancelled), quit, exit with code. */
void mh_host_request_quit(int code);
/* app.exit(): renderers are killed, no events, exit with code. */
void mh_host_exit(int code);

/* Whether a renderer that is not gone has this name (names are made
 * unique with a suffix -2, -3, ...: createRenderer, test renderers). */
int mh_host_name_taken(const char *name);

/* Test mode (`mainhost test`): the host without an app, ready at once;
 * specs attach in-process renderers to it. NULL when Lua cannot start. */
lua_State *mh_host_test_open(mh_config_t *cfg);
/* A renderer with no process whose socket end is fd (the other end is the
 * test's); gone when that end closes. NULL when out of memory. */
mh_renderer_t *mh_host_attach(const char *name, int fd);
/* Forgets a finished quit so the next case starts clean. */
void mh_host_test_reset(void);

/* lipcmain.c: the Lua side, called by the host. */
void mh_lipc_open(lua_State *L);                 /* registers "mainhost.host" */
void mh_lipc_renderer_new(lua_State *L, mh_renderer_t *r);
void mh_lipc_on_line(mh_chan_t *c, const char *line, size_t n);
/* Dispatches a channel's lines inside protected calls (see mh_chan_t's
 * run_dispatch). */
void mh_lipc_dispatch(mh_chan_t *c);
/* Emits render-process-gone and destroyed, and forgets the webContents. */
void mh_lipc_renderer_gone(lua_State *L, mh_renderer_t *r, mh_gone_reason_t why,
                           int restarting);
void mh_lipc_fail_pending(lua_State *L, mh_renderer_t *r, const char *why);
/* Logs how many of the renderer's refusals were counted and not logged. */
void mh_lipc_refusals_unlogged(mh_renderer_t *r);
/* App events: returns 1 when a listener called event.preventDefault(). */
int mh_lipc_app_event(lua_State *L, const char *name, int with_code, int code);
/* 1 when the app has listeners for name. */
int mh_lipc_app_has_listeners(lua_State *L, const char *name);
void mh_lipc_close(lua_State *L);
/* Where mainhost.trace(true) writes: the --trace target (NULL: stderr). */
void mh_lipc_set_trace_path(const char *path);
/* What the main script raised, or NULL (the test host's t.load asks). */
const char *mh_lipc_main_failed(void);
/* Removes every ipcMain listener and handler (a test's reset). */
void mh_lipc_test_reset(lua_State *L);
/* Runs the main chunk on top of the stack in the runner. [-1, +0, -] */
void mh_lipc_run_main(lua_State *L);

#endif
