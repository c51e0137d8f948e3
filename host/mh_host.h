/* mh_host.h: the main process: renderer processes (spawn, socket, output
 * prefixing, exit), the run of an app, and the one shutdown order.
 * The Lua side of each renderer lives in lipcmain.c. */
#ifndef MH_HOST_H
#define MH_HOST_H

#include <lua.h>
#include <uv.h>

#include "mh_chan.h"
#include "mh_config.h"
#include "mh_invoke.h"

typedef struct mh_outlines {
  uv_pipe_t pipe;
  mh_buf_t partial;   /* a line still waiting for its '\n' */
  int is_err;         /* forward to stderr instead of stdout */
} mh_outlines_t;

/* One renderer process. Owned by the host's table; freed when its process
 * handle, socket and output pipes are all closed. */
typedef struct mh_renderer {
  int id;             /* webContents id: 1, 2, ... never reused */
  char *name;
  int pid;
  uv_process_t proc;
  mh_chan_t chan;
  mh_outlines_t out, err;
  int open_handles;   /* closes still to come before the memory can go */
  int exited, chan_ended, gone_reported;
  int64_t exit_status;
  int term_signal;
  mh_pending_t pending;   /* invoke / sendSync ids awaiting their reply */
  int wc_ref;             /* Lua webContents table (lipcmain.c) */
  int loaded;             /* said hello */
} mh_renderer_t;

typedef struct mh_host {
  uv_loop_t *loop;
  lua_State *L;
  mh_config_t *cfg;
  mh_chan_group_t chans;
  mh_renderer_t **byid;   /* index id-1; NULL once a renderer is gone */
  size_t nids, capids;
  mh_buf_t scratch;       /* the decoder's string scratch */
  uv_timer_t quit_timer;  /* the grace period of a quit */
  uv_signal_t sigint, sigterm;
  int quitting, exit_code, stopped;
} mh_host_t;

extern mh_host_t mh_host;

/* Runs an app (config already loaded): Lua state, main script, renderers,
 * loop, shutdown. Returns the process exit code. */
int mh_host_main(mh_config_t *cfg);

/* Starts a renderer; NULL with a message in err when it could not start. */
mh_renderer_t *mh_host_spawn(const mh_renderer_conf_t *rc, const char *dir,
                             char *err, size_t errlen);
mh_renderer_t *mh_host_renderer(int id);

/* Begins the quit sequence: renderers' sockets close (they exit on their
 * own), then SIGTERM, then SIGKILL; the loop then stops and the process
 * exits with code. */
void mh_host_quit(int code);

/* lipcmain.c: the Lua side, called by the host. */
void mh_lipc_open(lua_State *L);                 /* registers "mainhost.host" */
void mh_lipc_renderer_new(lua_State *L, mh_renderer_t *r);
void mh_lipc_on_line(mh_chan_t *c, const char *line, size_t n);
void mh_lipc_renderer_gone(lua_State *L, mh_renderer_t *r);
void mh_lipc_fail_pending(lua_State *L, mh_renderer_t *r, const char *why);
void mh_lipc_close(lua_State *L);
/* Runs the main chunk on top of the stack in the runner. [-1, +0, -] */
void mh_lipc_run_main(lua_State *L);

#endif
